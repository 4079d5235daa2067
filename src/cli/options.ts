/** Parsers for commander options, failing with a message commander prints. */
import { InvalidArgumentError } from 'commander'

export function positiveInteger(value: string): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidArgumentError('must be a positive integer')
  return number
}

export function nonNegativeNumber(value: string): number {
  const number = Number(value)
  if (!Number.isFinite(number) || number < 0) throw new InvalidArgumentError('must be a number ≥ 0')
  return number
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}
