import { setupLab, teardownLab } from '../test/lab/support/lab-setup.js';
import { churnSection } from './churn-bench.js';
import { enginesSection } from './engines-bench.js';
import { failoverSection } from './failover-bench.js';
import { scaleSection } from './scale-bench.js';
import { tlsSection } from './tls-bench.js';

// npm run bench [-- churn|failover|engines|scale|tls]: every section by default, one table each.

const SECTIONS: Record<string, () => Promise<string>> = { churn: churnSection, failover: failoverSection, engines: enginesSection, scale: scaleSection, tls: tlsSection };
const chosen = process.argv.slice(2).filter((a) => a in SECTIONS);
const run = chosen.length > 0 ? chosen : Object.keys(SECTIONS);

await setupLab();
try {
  for (const name of run) {
    const table = await SECTIONS[name]!();
    process.stdout.write(`## ${name}\n\n${table}\n\n`);
  }
} finally {
  await teardownLab();
}
