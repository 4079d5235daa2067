/**
 * A p2p-llm host in its own process, as in real use (sharing the guest's event loop would
 * bill the host's work to the p2p path twice). Prints its multiaddrs as one JSON line; stops
 * when its stdin closes.
 */
import { createModelHost, llamaCpp } from '../src/index.ts'

const url = process.argv[2]
if (url == null) throw new Error('usage: host-process.ts <llama-server url>')
const host = await createModelHost({ backend: llamaCpp({ url }) })
process.stdout.write(
  `${JSON.stringify({ multiaddrs: host.multiaddrs, shareUrl: host.shareUrl })}\n`,
)
process.stdin.resume()
process.stdin.on('end', () => {
  void host.stop().then(() => process.exit(0))
})
