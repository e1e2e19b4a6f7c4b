import { EMPTY_HELD_DIGEST, formatHeldDigest, HELD_DIGEST_PATTERN, heldRunsDigest, runIdHash } from './held-digest';

describe('held digest', () => {
  it('is the same whatever the order and counts each id once', () => {
    const ids = ['run_a', 'run_b', 'run_c'];
    expect(heldRunsDigest(ids)).toBe(heldRunsDigest([...ids].reverse()));
    expect(heldRunsDigest([...ids, 'run_a'])).toBe(heldRunsDigest(ids));
    expect(heldRunsDigest(ids)).toMatch(/^3:/);
    expect(heldRunsDigest([])).toBe(EMPTY_HELD_DIGEST);
  });

  it('tells sets apart, including ones that differ by one id or by the count alone', () => {
    expect(heldRunsDigest(['run_a', 'run_b'])).not.toBe(heldRunsDigest(['run_a', 'run_c']));
    expect(heldRunsDigest(['run_a'])).not.toBe(heldRunsDigest(['run_b']));
    expect(heldRunsDigest(['run_a'])).not.toBe(heldRunsDigest([]));
    const hashes = new Set(Array.from({ length: 10_000 }, (_, i) => runIdHash(`run_${i}`)));
    expect(hashes.size).toBe(10_000);
  });

  it('adds and takes away an id by XOR, as the stores and the agent keep it', () => {
    let xor = runIdHash('run_a') ^ runIdHash('run_b');
    expect(formatHeldDigest(2, xor)).toBe(heldRunsDigest(['run_b', 'run_a']));
    xor ^= runIdHash('run_a');
    expect(formatHeldDigest(1, xor)).toBe(heldRunsDigest(['run_b']));
  });

  it('reads a signed 64-bit XOR as unsigned, and always matches its pattern', () => {
    const hash = runIdHash('run_x');
    expect(formatHeldDigest(1, BigInt.asIntN(64, hash))).toBe(formatHeldDigest(1, hash));
    for (const ids of [[], ['run_x'], ['a', 'b', 'c']]) expect(heldRunsDigest(ids)).toMatch(HELD_DIGEST_PATTERN);
    expect('01:0000000000000000').not.toMatch(HELD_DIGEST_PATTERN);
  });
});
