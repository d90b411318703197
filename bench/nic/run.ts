/**
 * The NIC hot-path benchmark on its own: `npx tsx bench/nic/run.ts [--smoke] [--json]`.
 */
import { formatNic, nicBench } from '../nic.js';

const smoke = process.argv.includes('--smoke');
const result = await nicBench({ smoke, progress: (line) => console.error(line) });
console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatNic(result));
