/**
 * The platform properties a worker offers by default, detected from the
 * machine. Both spellings in common use are offered (`OSFamily=Linux` and
 * `OSFamily=linux`, `ISA=x86-64` and `ISA=x86_64`), since REAPI leaves the
 * values to convention and clients' configurations differ.
 */
import { arch, platform } from 'node:os';
import type { PlatformProperty } from '../scheduler/types.ts';

const OS_NAMES: Record<string, string> = { linux: 'Linux', darwin: 'Darwin', win32: 'Windows' };
const ISA_NAMES: Record<string, string[]> = {
  x64: ['x86-64', 'x86_64'],
  arm64: ['aarch64', 'arm64'],
};

/** Detected OSFamily and ISA properties of this machine. */
export function detectPlatform(): PlatformProperty[] {
  const os = OS_NAMES[platform()] ?? platform();
  const props: PlatformProperty[] = [
    { name: 'OSFamily', value: os },
    { name: 'OSFamily', value: os.toLowerCase() },
  ];
  for (const isa of ISA_NAMES[arch()] ?? [arch()]) props.push({ name: 'ISA', value: isa });
  return props;
}

/** Parses `name=value` strings (from flags or configuration). */
export function parsePlatformProperties(entries: readonly string[]): PlatformProperty[] {
  return entries.map((entry) => {
    const at = entry.indexOf('=');
    if (at <= 0) throw new Error(`platform property "${entry}" must look like name=value`);
    return { name: entry.slice(0, at), value: entry.slice(at + 1) };
  });
}
