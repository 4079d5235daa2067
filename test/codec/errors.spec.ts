import { describe, expect, it } from 'vitest'
import { ErrorCode, errorFromCode, isP2PLLMError, P2PLLMError } from '../../src/codec/errors.ts'

describe('errors', () => {
  it.each(Object.values(ErrorCode).filter((code) => code !== 'INTERNAL_ERROR'))(
    'maps %s to its own class',
    (code) => {
      const err = errorFromCode(code, 'message')
      expect(err).toBeInstanceOf(P2PLLMError)
      expect(err.code).toBe(code)
      expect(err.name).not.toBe('P2PLLMError')
      expect(err.message).toBe('message')
    },
  )

  it('keeps unknown codes from newer hosts', () => {
    const err = errorFromCode('SOMETHING_NEW', 'm')
    expect(err).toMatchObject({ name: 'P2PLLMError', code: 'SOMETHING_NEW' })
  })

  it('recognises errors by code, not only by class', () => {
    expect(isP2PLLMError(Object.assign(new Error('x'), { code: 'UNAUTHORIZED' }))).toBe(true)
    expect(isP2PLLMError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(false)
  })
})
