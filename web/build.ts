/**
 * Builds the web chat page in memory with esbuild: web/app.ts and the client SDK it imports become
 * one minified ES module, served with index.html and style.css by the local control plane. Nothing is
 * written to disk, so a fresh clone needs only `npm install` and `npm start`.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export interface WebAsset {
  contentType: string;
  body: Buffer;
}

export interface WebPage {
  /** URL path → asset: `/` (index.html), `/app.js`, `/app.js.map`, `/style.css`. */
  assets: ReadonlyMap<string, WebAsset>;
  /** The minified bundle's size, raw and gzipped, in bytes. */
  bundleBytes: { raw: number; gzip: number };
}

const WEB = __dirname;

/** Bundles the page; rejects with esbuild's messages when the source does not build. */
export async function buildWebPage(): Promise<WebPage> {
  const [bundle, html, css] = await Promise.all([
    build({
      entryPoints: [path.join(WEB, 'app.ts')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022'],
      sourcemap: 'linked',
      write: false,
      outdir: WEB,
      logLevel: 'silent',
    }),
    readFile(path.join(WEB, 'index.html')),
    readFile(path.join(WEB, 'style.css')),
  ]);
  const output = (ext: string): Buffer => {
    const file = bundle.outputFiles.find((f) => f.path.endsWith(ext));
    if (file === undefined) throw new Error(`esbuild produced no ${ext}`);
    return Buffer.from(file.contents);
  };
  const js = output('.js');
  return {
    assets: new Map([
      ['/', { contentType: 'text/html; charset=utf-8', body: html }],
      ['/app.js', { contentType: 'text/javascript; charset=utf-8', body: js }],
      ['/app.js.map', { contentType: 'application/json', body: output('.js.map') }],
      ['/style.css', { contentType: 'text/css; charset=utf-8', body: css }],
    ]),
    bundleBytes: { raw: js.length, gzip: gzipSync(js, { level: 9 }).length },
  };
}
