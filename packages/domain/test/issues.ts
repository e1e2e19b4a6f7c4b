import { ValidationError } from '../src';

/** The field issues of the ValidationError `fn` throws; fails the test if it throws nothing else. */
export function issues(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details;
  }
  throw new Error('expected a ValidationError');
}
