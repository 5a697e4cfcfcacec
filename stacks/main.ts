import { homelabPolicy } from './homelab-policy';
import { synthPolicy } from './synth';

/**
 * The app cdktf.json runs (`cdktf synth/diff/deploy`): the bundled homelab policy. The cdktf CLI
 * passes its output folder in CDKTF_OUTDIR.
 */
synthPolicy({ policy: homelabPolicy, outDir: process.env.CDKTF_OUTDIR ?? 'cdktf.out', stackId: 'homelab' });
