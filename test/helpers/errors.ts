import { expect } from 'vitest';
import { MlserveError } from '../../src/errors.js';

/** The MlserveError that `fn` throws (fails the test when it throws nothing or something else). */
export function caught(fn: () => unknown): MlserveError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MlserveError);
    return err as MlserveError;
  }
  throw new Error('expected an error');
}
