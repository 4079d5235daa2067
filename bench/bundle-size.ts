/**
 * `npm run bench:bundle`: min+gzip size of the browser guest against the bare js-libp2p stack
 * it needs (target: within 10 %). Both are bundled the way a browser app's bundler would:
 * esbuild, `browser` conditions, minified, tree-shaken; and it checks that no Node built-in and
 * no host/backend code reached the guest bundle.
 */
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { build } from 'esbuild'

export interface BundleSize {
  bytes: number
  gzip: number
  brotli: number
  inputs: string[]
}

export async function bundleSize(entry: string): Promise<BundleSize> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]?.contents ?? new Uint8Array()
  return {
    bytes: code.byteLength,
    gzip: gzipSync(code, { level: 9 }).byteLength,
    brotli: brotliCompressSync(code).byteLength,
    inputs: Object.keys(result.metafile.inputs),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const guest = await bundleSize('bench/fixtures/browser-guest.ts')
  const bare = await bundleSize('bench/fixtures/bare-browser-stack.ts')
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`
  console.table({
    'bare libp2p stack': { minified: kb(bare.bytes), gzip: kb(bare.gzip), brotli: kb(bare.brotli) },
    'p2p-llm browser guest': {
      minified: kb(guest.bytes),
      gzip: kb(guest.gzip),
      brotli: kb(guest.brotli),
    },
  })
  console.log(
    `gzip ratio guest / bare stack: ${(guest.gzip / bare.gzip).toFixed(3)} (target ≤ 1.10)`,
  )
  const ours = guest.inputs.filter((input) => input.startsWith('src/'))
  console.log(`our modules in the bundle (${ours.length}): ${ours.join(', ')}`)
  const forbidden = guest.inputs.filter((input) =>
    /^node:|src\/(host|backends|relay|identity|cli)\//.test(input),
  )
  if (forbidden.length > 0) throw new Error(`the browser guest pulls in ${forbidden.join(', ')}`)
}
