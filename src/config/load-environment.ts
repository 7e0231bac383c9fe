import { readdir, readFile } from 'node:fs/promises';
import { readHostFacts } from '../host/read-host-facts.js';
import { ENV } from './env-schema.js';
import { type AuthPassFileRead, type DirectoryCheck, type ParsedEnvironment, parseEnvironment } from './env.js';
import type { HostFacts } from './host-facts.js';

/** The I/O half of configuration: host facts, the password file and the templates directory, then the pure parse. */
export async function loadEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  facts?: HostFacts,
): Promise<ParsedEnvironment> {
  const passFile = env[ENV.authPassFile.name]?.trim();
  let authPassFile: AuthPassFileRead | undefined;
  if (passFile) {
    try {
      authPassFile = { content: await readFile(passFile, 'utf8') };
    } catch (err) {
      authPassFile = { error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  }
  // Listing it proves both that it is a directory and that we may read it.
  const templatesDir = env[ENV.templatesDir.name]?.trim();
  let templatesDirCheck: DirectoryCheck | undefined;
  if (templatesDir) {
    try {
      await readdir(templatesDir);
      templatesDirCheck = { directory: true };
    } catch (err) {
      templatesDirCheck = { error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  }
  return parseEnvironment(env, facts ?? (await readHostFacts()), authPassFile, templatesDirCheck);
}
