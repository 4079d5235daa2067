/**
 * @packageDocumentation
 *
 * Stable identities for Node processes: a private key kept in a file, created on first use, so
 * a host's (or relay's, or guest's) peer id — and with it the share URL — survives restarts.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidRequestError } from '../codec/errors.ts'

/** Thrown when an identity file exists but does not hold a private key. */
export class InvalidIdentityError extends InvalidRequestError {
  static override name = 'InvalidIdentityError'
  override name = 'InvalidIdentityError'
}

/**
 * Reads the Ed25519 private key in `path` (libp2p's protobuf encoding), or creates one there
 * with mode 0600 (readable by its owner only) when the file does not exist yet.
 */
export async function loadOrCreateIdentity(path: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    // Write then rename, so a crash never leaves half a key behind.
    const tmp = `${path}.${process.pid}.tmp`
    await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    await chmod(tmp, 0o600)
    await rename(tmp, path)
    return key
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidIdentityError(`${path} does not hold a libp2p private key`, { cause: err })
  }
}
