export * from './delta.js';
export * from './distribution.js';
export * from './format.js';
export * from './inventory.js';
export * from './jobs.js';
export * from './protocol.js';
