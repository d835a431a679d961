export * from './content.js';
export * from './forecast.js';
export * from './opportunities.js';
export * from './policy.js';
