import 'reflect-metadata';
import { ValidationError } from '@gyoza/domain';
import { IsInt, Max } from 'class-validator';
import { parseDto } from './validation';

describe('parseDto', () => {
  it('applies a rule added after the DTO was first validated (the kept lookups are dropped)', () => {
    class Count {
      @IsInt() n!: number;
    }
    class Child extends Count {}
    expect(parseDto(Child, { n: 50 }, 'body').n).toBe(50);
    expect(parseDto(Child, { n: 50 }, 'body').n).toBe(50);
    Max(10)(Count.prototype, 'n');
    expect(() => parseDto(Child, { n: 50 }, 'body')).toThrow(ValidationError);
    expect(() => parseDto(Count, { n: 50 }, 'body')).toThrow(/n must not be greater than 10/);
    expect(parseDto(Child, { n: 5 }, 'body').n).toBe(5);
  });

  it('refuses unknown fields and names them, validation after validation', () => {
    class Named {
      @IsInt() n!: number;
    }
    for (let i = 0; i < 3; i++) {
      expect(() => parseDto(Named, { n: 1, extra: true }, 'body')).toThrow(/extra should not exist/);
    }
  });
});
