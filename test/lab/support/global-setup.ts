// vitest global setup of the lab project: the lab is set up once and torn down after all files.
export { setupLab as setup, teardownLab as teardown } from './lab-setup.js';
