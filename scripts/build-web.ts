/**
 * Builds the web chat page (src/web) as a static site: src/web/app.ts bundled with esbuild for
 * browsers (the package's browser build, minified, with a source map) into `<out>/app.js`, next
 * to a copy of index.html and style.css. Default output: dist/web (`npm run build:web`, also the
 * last step of `npm run build`); `p2p-llm web` serves it.
 *
 *   npx tsx scripts/build-web.ts [outDir]
 */
import { copyFile, mkdir, rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The page's source directory. */
export const WEB_SOURCE_DIR = join(root, 'src/web')

/** Where `npm run build` puts the page. */
export const WEB_DIST_DIR = join(root, 'dist/web')

/** The files copied as they are. */
const STATIC_FILES = ['index.html', 'style.css']

export interface BuildWebPageOptions {
  /** Output directory, emptied first. @default dist/web */
  outDir?: string
  /** @default true */
  minify?: boolean
  /** Writes app.js.map next to app.js. @default true */
  sourcemap?: boolean
}

export interface BuiltWebPage {
  outDir: string
  /** Bytes of app.js. */
  scriptBytes: number
}

/** Builds the page into `outDir` (by default dist/web). */
export async function buildWebPage(options: BuildWebPageOptions = {}): Promise<BuiltWebPage> {
  const outDir = resolve(options.outDir ?? WEB_DIST_DIR)
  // Emptied first: `tsc -p tsconfig.build.json` leaves app.d.ts files here, which the site does
  // not need.
  await rm(outDir, { recursive: true, force: true })
  await mkdir(outDir, { recursive: true })
  await build({
    entryPoints: [join(WEB_SOURCE_DIR, 'app.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: options.sourcemap ?? true,
    legalComments: 'linked',
    logLevel: 'warning',
  })
  for (const file of STATIC_FILES) await copyFile(join(WEB_SOURCE_DIR, file), join(outDir, file))
  return { outDir, scriptBytes: (await stat(join(outDir, 'app.js'))).size }
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const built = await buildWebPage({ outDir: process.argv[2] })
  console.log(
    `web chat page: ${built.outDir} (app.js ${(built.scriptBytes / 1024).toFixed(0)} KB minified)`,
  )
}
