/** Hands the share URL to people: clipboard and a QR code in the terminal, both best effort. */
import clipboard from 'clipboardy'
import QRCode from 'qrcode'

/** Copies `text`; false where there is no clipboard (a server, CI, SSH), never an error. */
export async function copyToClipboard(text: string): Promise<boolean> {
  try {
    await clipboard.write(text)
    return true
  } catch {
    return false
  }
}

/** The QR code of `text` drawn with Unicode half blocks, for a terminal. */
export function terminalQrCode(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'utf8', errorCorrectionLevel: 'L', margin: 2 })
}
