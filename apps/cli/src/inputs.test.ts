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

  it('keeps an untyped value as typed when reading it as JSON would change it', () => {
    const flags = [
      'big=12345678901234567890',
      'edge=9007199254740992',
      'inf=1e400',
      'v=1.10',
      'e=1e3',
      'z=-0',
      'o={"id":12345678901234567890}',
      'l=[1e400]',
    ];
    expect(parseInputFlags(flags)).toEqual({
      big: '12345678901234567890',
      edge: '9007199254740992',
      inf: '1e400',
      v: '1.10',
      e: '1e3',
      z: '-0',
      o: '{"id":12345678901234567890}',
      l: '[1e400]',
    });
  });

  it('parses untyped JSON that reads back the same', () => {
    const flags = ['n=-2.5', 'max=9007199254740991', 'o={"a":1.10,"b":[2]}', 'x=null', 's="quoted"'];
    expect(parseInputFlags(flags)).toEqual({
      n: -2.5,
      max: 9007199254740991,
      o: { a: 1.1, b: [2] },
      x: null,
      s: 'quoted',
    });
  });

  it('reads a declared number in decimal only', () => {
    expect(parseInputFlags(['n=1e3'], specs)).toEqual({ n: 1000 });
    expect(parseInputFlags(['n=-.5'], specs)).toEqual({ n: -0.5 });
    expect(parseInputFlags(['n=+2.'], specs)).toEqual({ n: 2 });
  });

  it.each([
    ['n=0x10', "--input n: '0x10' is not a number"],
    ['n=0b1', "--input n: '0b1' is not a number"],
    ['n=0o7', "--input n: '0o7' is not a number"],
    ['n=Infinity', "--input n: 'Infinity' is not a number"],
    ['n=', "--input n: '' is not a number"],
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
