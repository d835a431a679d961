export * from './client.js';
export * from './database.js';
export * from './embedded.js';
export * from './generated/prisma/client.js';
export * from './ids.js';
export * from './inventory-document.js';
export * from './migrate.js';
