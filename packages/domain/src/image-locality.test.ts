import { normalizeConstraints } from './constraints';
import { canonicalImageRef, heldImageSet, imageDeferral, indexImageHolders } from './image-locality';

describe('canonicalImageRef', () => {
  it('spells a Docker Hub image one way however it is written', () => {
    for (const ref of [
      'busybox',
      'busybox:latest',
      'docker.io/library/busybox:latest',
      'index.docker.io/library/busybox',
    ]) {
      expect(canonicalImageRef(ref)).toBe('docker.io/library/busybox:latest');
    }
    expect(canonicalImageRef('gyoza/x:1')).toBe('docker.io/gyoza/x:1');
  });

  it('keeps a registry host and its port, and a tag that differs', () => {
    expect(canonicalImageRef('127.0.0.1:5000/gyoza/x')).toBe('127.0.0.1:5000/gyoza/x:latest');
    expect(canonicalImageRef('GHCR.io/org/app:2')).toBe('ghcr.io/org/app:2');
    expect(canonicalImageRef('localhost/app:2')).toBe('localhost/app:2');
    expect(canonicalImageRef('busybox:1.36')).not.toBe(canonicalImageRef('busybox'));
  });

  it('matches by digest and ignores a tag written beside it', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(canonicalImageRef(`busybox@${digest}`)).toBe(`docker.io/library/busybox@${digest}`);
    expect(canonicalImageRef(`docker.io/library/busybox:1.36@${digest}`)).toBe(`docker.io/library/busybox@${digest}`);
    expect(canonicalImageRef(`127.0.0.1:5000/x@${digest}`)).toBe(`127.0.0.1:5000/x@${digest}`);
  });
});

describe('imageDeferral', () => {
  const constraints = normalizeConstraints({ cpu_cores: 1 });
  const resources = { cpu_cores: 4, ram_mb: 8000, gpus: [] };
  const since = new Date(Date.UTC(2026, 0, 1));
  const run = { image: 'busybox', constraints, updated_at: since };
  const holders = indexImageHolders([{ id: 'holder', resources, tags: [], images: ['busybox:latest'] }]);
  const at = (seconds: number) => ({ holders, waitSeconds: 10, now: new Date(since.getTime() + seconds * 1000) });
  const none = () => heldImageSet([]);

  it('leaves the run to the holder until the wait has passed since it became pending', () => {
    expect(imageDeferral(run, 'other', none, at(9.9))).toMatchObject({ holder: { id: 'holder' }, image: 'busybox' });
    expect(imageDeferral(run, 'other', none, at(10))).toBeUndefined();
  });

  it('does not defer for the holder itself, a worker with the image, or a holder the run cannot fit', () => {
    expect(imageDeferral(run, 'holder', none, at(0))).toBeUndefined();
    expect(imageDeferral(run, 'other', () => heldImageSet(['docker.io/library/busybox']), at(0))).toBeUndefined();
    const big = { ...run, constraints: normalizeConstraints({ cpu_cores: 8 }) };
    expect(imageDeferral(big, 'other', none, at(0))).toBeUndefined();
    expect(imageDeferral({ ...run, image: 'alpine' }, 'other', none, at(0))).toBeUndefined();
    expect(imageDeferral(run, 'other', none, { ...at(0), waitSeconds: 0 })).toBeUndefined();
  });
});
