/**
 * The protocol id guests open one stream on per request. Fixed by the public contract: the
 * original Electron app's clients speak it, so it never changes within major version 1.
 */
export const PROTOCOL = '/llama/1.0.0'

/**
 * Largest frame (the JSON body, excluding its varint length prefix) either side accepts:
 * 1 MiB holds a long prompt or chat history with room to spare, and bounds the memory a
 * stranger can make the host buffer per stream.
 */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
