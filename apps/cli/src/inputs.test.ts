import { UsageError } from './cli-error';
import { parseInputFlags } from './inputs';

describe('parseInputFlags', () => {
  const specs = {
    s: { type: 'string' as const },
    i: { type: 'integer' as const },
    n: { type: 'number' as const },
    b: { type: 'boolean' as const },
    o: { type: 'object' as const },
    a: { type: 'array' as const },
  };

  it('converts each value to the type the op declares', () => {
    expect(parseInputFlags(['s=007', 'i=3', 'n=2.5', 'b=yes', 'o={"k":1}', 'a=[1,2]', 'x=a=b'], specs)).toEqual({
      s: '007',
      i: 3,
      n: 2.5,
      b: true,
      o: { k: 1 },
      a: [1, 2],
      x: 'a=b',
    });
  });

  it('parses JSON literals when no type is declared and keeps other text', () => {
    expect(parseInputFlags(['n=3', 't=true', 'w=hello world', 'e='])).toEqual({
      n: 3,
      t: true,
      w: 'hello world',
      e: '',
    });
  });

  it.each([
    ['i=1.5', "--input i: '1.5' is not an integer"],
    ['i=0x10', "--input i: '0x10' is not an integer"],
    ['i=1e3', "--input i: '1e3' is not an integer"],
    ['i=9007199254740993', "--input i: '9007199254740993' is not an integer"],
    ['n=abc', "--input n: 'abc' is not a number"],
    ['b=maybe', "--input b: 'maybe' is not a boolean (true/false)"],
    ['o={', "--input o: '{' is not JSON object"],
    ['novalue', '--input novalue: expected name=value'],
  ])('refuses %s with a usage error', (flag, message) => {
    expect(() => parseInputFlags([flag], specs)).toThrow(new UsageError(message));
  });
});
