import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/*
 * The zod every schema in shared and the agent is written with: zod/mini, whose functional API
 * costs the agent ~0.26 MB of heap against ~1.6 MB for classic zod. Mini registers no locale,
 * and without one every issue reads "Invalid input"; config-file errors and rejected frames
 * show these messages. Import it as a namespace (`import * as z`): the bundler then keeps only
 * what is used, where a `z` object would keep all of zod/mini and every locale.
 */
config(en());

export * from 'zod/mini';
