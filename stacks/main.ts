import { loadProjectConfig, loadStackPolicy } from './project-config';
import { synthProject } from './synth';

/**
 * The app cdktf.json runs (`cdktf synth/diff/deploy`): the stacks of backup-policy.config.json
 * (or, without one, the bundled homelab policy), exactly what `backup-policy synth` writes. The
 * cdktf CLI passes its output folder in CDKTF_OUTDIR.
 */
synthProject({ config: loadProjectConfig(), outDir: process.env.CDKTF_OUTDIR ?? 'cdktf.out', loadPolicy: loadStackPolicy, log: (line) => console.error(line) });
