/**
 * The validator every schema of the wire protocol and the fan-out queue is written with: zod's
 * tree-shakable form, `zod/mini` (functions instead of methods, so a bundle keeps only what its schemas
 * use: about 25 KB where zod's classic API keeps 90 KB), plus the English messages zod's classic API
 * loads and `zod/mini` does not, without which every issue would read "Invalid input". Write
 * `import * as z from './zod'`, never import zod itself, so no schema can miss the messages.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
