/**
 * The web chat page (`p2p-llm web`, static build in dist/web): connect to a shared model by its
 * share URL and chat with it. Plain DOM, and only the browser build of this package.
 *
 * The share URL can be prefilled with `?url=<share URL>` or `#<share URL>` (`#url=<share URL>`).
 */
import {
  type ChatMessage,
  type ConnectionKind,
  connectToModel,
  type RemoteModel,
} from '../browser.ts'

type State = 'disconnected' | 'connecting' | 'connected'
type TurnState = 'streaming' | 'done' | 'stopped' | 'error'

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id)
  if (found == null) throw new Error(`The page has no #${id}`)
  return found as T
}

const ui = {
  app: element<HTMLDivElement>('app'),
  connectForm: element<HTMLFormElement>('connect-form'),
  shareUrl: element<HTMLInputElement>('share-url'),
  apiKey: element<HTMLInputElement>('api-key'),
  noStun: element<HTMLInputElement>('no-stun'),
  connect: element<HTMLButtonElement>('connect'),
  disconnect: element<HTMLButtonElement>('disconnect'),
  status: element<HTMLDivElement>('status'),
  statusText: element<HTMLSpanElement>('status-text'),
  kind: element<HTMLSpanElement>('connection-kind'),
  modelName: element<HTMLSpanElement>('model-name'),
  newChat: element<HTMLButtonElement>('new-chat'),
  error: element<HTMLDivElement>('error'),
  chat: document.querySelector<HTMLElement>('.chat') ?? document.body,
  transcript: element<HTMLOListElement>('transcript'),
  empty: element<HTMLParagraphElement>('empty'),
  composer: element<HTMLFormElement>('composer'),
  prompt: element<HTMLTextAreaElement>('prompt'),
  send: element<HTMLButtonElement>('send'),
  stop: element<HTMLButtonElement>('stop'),
}

const KIND_LABELS: Record<ConnectionKind, string> = {
  direct: 'direct',
  webrtc: 'WebRTC',
  relayed: 'relayed',
}

const KIND_TITLES: Record<ConnectionKind, string> = {
  direct: 'Straight to the host over WebSockets',
  webrtc: 'A direct WebRTC connection, set up through the hub',
  relayed: 'Through the hub: WebRTC could not get through',
}

let state: State = 'disconnected'
let model: RemoteModel | undefined
let modelName = ''
/** Cancels the connection attempt in progress. */
let connecting: AbortController | undefined
/** Cancels the generation in progress. */
let generation: AbortController | undefined
/** The conversation sent with every message: only finished (or stopped) exchanges. */
let history: ChatMessage[] = []

/** Codes after which the connection is of no further use: back to "not connected". */
const FATAL_CODES = new Set([
  'CONNECTION_FAILED',
  'TIMEOUT',
  'UNAUTHORIZED',
  'TOO_MANY_CONNECTIONS',
])

/** A model file's name without its directory (llama-server reports the whole path). */
function shortName(model: string): string {
  return model.split(/[\\/]/).filter(Boolean).at(-1) ?? model
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Words for a failure, from its wire code. */
function describeError(err: unknown, apiKey: string): string {
  const message = (err as Error | null)?.message ?? String(err)
  switch (codeOf(err)) {
    case 'UNAUTHORIZED':
      return apiKey === '' ? 'This host needs an API key.' : 'Wrong API key.'
    case 'TOO_MANY_CONNECTIONS':
      return 'The host is full: it already serves as many guests as it allows. Try again later.'
    case 'CONNECTION_FAILED':
    case 'TIMEOUT':
      return 'Could not reach the host: check the share URL, or the host is gone.'
    case 'BACKEND_UNAVAILABLE':
      return "The host's model is not running."
    case 'TOO_MANY_REQUESTS':
      return 'The host is busy. Try again in a moment.'
    case 'ABORTED':
      return 'The host stopped the request.'
    default:
      return message
  }
}

function showError(text: string | undefined): void {
  ui.error.textContent = text ?? ''
  ui.error.hidden = text == null
}

function setState(next: State): void {
  state = next
  ui.app.dataset.state = next
  ui.status.dataset.state = next
  const busy = next !== 'disconnected'
  // Connected: the form gives its room to the conversation (Disconnect brings it back).
  ui.connectForm.hidden = next === 'connected'
  ui.shareUrl.disabled = busy
  ui.apiKey.disabled = busy
  ui.noStun.disabled = busy
  ui.connect.disabled = next === 'connecting'
  ui.connect.textContent = next === 'connecting' ? 'Connecting…' : 'Connect'
  ui.disconnect.hidden = next === 'disconnected'
  ui.disconnect.textContent = next === 'connecting' ? 'Cancel' : 'Disconnect'
  ui.prompt.placeholder =
    next === 'connected' ? 'Type a message' : 'Connect first, then type a message'
  if (next === 'disconnected') {
    ui.statusText.textContent = 'Not connected'
    ui.kind.hidden = true
    ui.modelName.hidden = true
    delete ui.status.dataset.kind
  } else if (next === 'connecting') {
    ui.statusText.textContent = 'Connecting…'
    ui.kind.hidden = true
    ui.modelName.hidden = true
  }
  updateComposer()
}

/** Shows how the guest reaches the host (it may change when the model reconnects). */
function showConnection(): void {
  if (model == null) return
  const kind = model.connection.kind
  ui.statusText.textContent = 'Connected to'
  ui.modelName.textContent = shortName(modelName)
  ui.modelName.title = `${modelName}\nHost ${model.peerId}`
  ui.modelName.hidden = false
  ui.kind.textContent = KIND_LABELS[kind] ?? kind
  ui.kind.title = KIND_TITLES[kind] ?? ''
  ui.kind.hidden = false
  ui.status.dataset.kind = kind
}

function updateComposer(): void {
  const generating = generation != null
  ui.send.hidden = generating
  ui.send.disabled = state !== 'connected'
  ui.stop.hidden = !generating
  ui.newChat.hidden = history.length === 0 && ui.transcript.childElementCount === 0
  ui.newChat.disabled = generating
  ui.empty.hidden = ui.transcript.childElementCount > 0
}

async function connect(): Promise<void> {
  if (state !== 'disconnected') return
  const shareUrl = ui.shareUrl.value.trim()
  const apiKey = ui.apiKey.value
  if (shareUrl === '') {
    showError('Paste the share URL (p2p://…) the host gave you.')
    ui.shareUrl.focus()
    return
  }
  showError(undefined)
  const controller = new AbortController()
  connecting = controller
  setState('connecting')
  let candidate: RemoteModel | undefined
  try {
    candidate = await connectToModel(shareUrl, {
      apiKey: apiKey === '' ? undefined : apiKey,
      signal: controller.signal,
      iceServers: ui.noStun.checked ? [] : undefined,
    })
    // The first request: names the model, and fails here if the key is wrong or the host full.
    const info = await candidate.info({ signal: controller.signal })
    if (controller.signal.aborted) throw controller.signal.reason
    model = candidate
    modelName = info.model
    connecting = undefined
    setState('connected')
    showConnection()
    ui.prompt.focus()
  } catch (err) {
    await candidate?.close().catch(() => {})
    if (connecting !== controller) return // cancelled: disconnect() has reset the page
    connecting = undefined
    setState('disconnected')
    showError(describeError(err, apiKey))
  }
}

async function disconnect(reason?: string): Promise<void> {
  connecting?.abort()
  connecting = undefined
  generation?.abort()
  const closing = model
  model = undefined
  setState('disconnected')
  showError(reason)
  ui.connect.focus()
  await closing?.close().catch(() => {})
}

/** Adds a turn to the transcript; returns its text element. */
function addTurn(role: 'user' | 'assistant', text: string, state: TurnState): HTMLLIElement {
  const item = document.createElement('li')
  item.className = 'turn'
  item.dataset.role = role
  item.dataset.state = state
  item.dataset.testid = `${role}-message`
  const who = document.createElement('div')
  who.className = 'who'
  who.textContent = role === 'user' ? 'You' : shortName(modelName) || 'Model'
  const body = document.createElement('div')
  body.className = 'text'
  body.dataset.testid = 'message-text'
  body.textContent = text
  item.append(who, body)
  ui.transcript.append(item)
  updateComposer()
  scrollToEnd(true)
  return item
}

function setTurnState(item: HTMLLIElement, state: TurnState, note?: string): void {
  item.dataset.state = state
  item.removeAttribute('aria-busy')
  if (note != null) {
    const small = document.createElement('div')
    small.className = 'note'
    small.dataset.testid = 'turn-note'
    small.textContent = note
    item.append(small)
  }
}

/** Whether the transcript follows new text: true unless the reader scrolled up. */
let followEnd = true
let scrollPending = false
/**
 * Keeps the newest text in view (once per frame: reading layout for every token would make
 * long replies slow), unless the reader scrolled up; `force` scrolls anyway.
 */
function scrollToEnd(force = false): void {
  if (force) followEnd = true
  if (!followEnd || scrollPending) return
  scrollPending = true
  requestAnimationFrame(() => {
    scrollPending = false
    if (followEnd) ui.chat.scrollTop = ui.chat.scrollHeight
  })
}

async function send(): Promise<void> {
  const text = ui.prompt.value.trim()
  if (state !== 'connected' || model == null || generation != null || text === '') return
  const current = model
  const controller = new AbortController()
  generation = controller
  ui.prompt.value = ''
  showError(undefined)
  addTurn('user', text, 'done')
  const messages: ChatMessage[] = [...history, { role: 'user', content: text }]
  const turn = addTurn('assistant', '', 'streaming')
  turn.setAttribute('aria-busy', 'true')
  const body = turn.querySelector<HTMLElement>('.text') ?? turn
  const output = document.createTextNode('')
  body.replaceChildren(output)
  let reply = ''
  // Pieces arrive token by token, faster than a screen refreshes: the page shows them once per
  // frame, which keeps it responsive (Stop!) however fast the model is.
  let shown = 0
  let frame = 0
  const render = (): void => {
    frame = 0
    output.appendData(reply.slice(shown))
    shown = reply.length
  }
  /** Shows the turn's final text (no frame still pending). */
  const settle = (text: string): void => {
    cancelAnimationFrame(frame)
    output.data = text
  }
  try {
    for await (const chunk of current.chatStream({ messages }, { signal: controller.signal })) {
      // The model's leading space is not shown.
      reply += reply === '' ? chunk.content.trimStart() : chunk.content
      if (frame === 0 && reply.length > shown) frame = requestAnimationFrame(render)
      scrollToEnd()
    }
    reply = reply.trimEnd()
    settle(reply)
    history = [...messages, { role: 'assistant', content: reply }]
    setTurnState(turn, 'done')
  } catch (err) {
    if (controller.signal.aborted) {
      // Stopped by the user (or by Disconnect): keep what came so far.
      reply = reply.trimEnd()
      settle(reply)
      if (reply !== '') history = [...messages, { role: 'assistant', content: reply }]
      setTurnState(turn, 'stopped', 'Stopped')
    } else {
      const description = describeError(err, ui.apiKey.value)
      settle(reply === '' ? description : reply)
      setTurnState(turn, 'error', reply === '' ? undefined : description)
      // The message did not make it into the conversation: offer it again.
      if (ui.prompt.value === '') ui.prompt.value = text
      if (FATAL_CODES.has(codeOf(err) ?? '') && model === current) {
        generation = undefined
        await disconnect(description)
        return
      }
      showError(description)
    }
  } finally {
    if (generation === controller) generation = undefined
    updateComposer()
    if (model === current && state === 'connected') showConnection()
  }
  if (state === 'connected') ui.prompt.focus()
}

function stop(): void {
  generation?.abort()
}

function newChat(): void {
  if (generation != null) return
  history = []
  ui.transcript.replaceChildren()
  showError(undefined)
  updateComposer()
  ui.prompt.focus()
}

/** The share URL from `?url=…`, `#url=…` or `#p2p://…`. */
function shareUrlFromLocation(): string | undefined {
  const query = new URLSearchParams(location.search).get('url')
  if (query != null && query !== '') return query
  const hash = location.hash.slice(1)
  if (hash === '') return undefined
  if (hash.startsWith('url=')) return new URLSearchParams(hash).get('url') ?? undefined
  try {
    return decodeURIComponent(hash)
  } catch {
    return hash
  }
}

ui.connectForm.addEventListener('submit', (event) => {
  event.preventDefault()
  void connect()
})
ui.disconnect.addEventListener('click', () => void disconnect())
ui.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  void send()
})
ui.stop.addEventListener('click', stop)
ui.chat.addEventListener('scroll', () => {
  const { scrollHeight, scrollTop, clientHeight } = ui.chat
  followEnd = scrollHeight - scrollTop - clientHeight < 40
})
ui.newChat.addEventListener('click', newChat)
ui.prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    void send()
  }
})
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && generation != null) {
    event.preventDefault()
    stop()
  }
})
window.addEventListener('pagehide', () => {
  generation?.abort()
  void model?.close()
})

const prefilled = shareUrlFromLocation()
if (prefilled != null) ui.shareUrl.value = prefilled
setState('disconnected')
;(prefilled != null ? ui.apiKey : ui.shareUrl).focus()
ui.app.dataset.ready = 'true'
