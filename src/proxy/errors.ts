/** Errors of the proxy's own HTTP layer, next to the wire errors it passes on (../codec/errors.ts). */
import { InvalidRequestError, type P2PLLMErrorOptions } from '../codec/errors.ts'

/**
 * Thrown when an OpenAI request body has a field of the wrong type or value; `param` names the
 * field (OpenAI's `error.param`), e.g. `messages[0].content`.
 */
export class InvalidParameterError extends InvalidRequestError {
  static override name = 'InvalidParameterError'
  override name = 'InvalidParameterError'
  readonly param: string | null

  constructor(message: string, param: string | null, options?: P2PLLMErrorOptions) {
    super(message, options)
    this.param = param
  }
}
