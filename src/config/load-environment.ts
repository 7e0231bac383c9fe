import { readdir, readFile } from 'node:fs/promises';
import { readHostFacts } from '../host/read-host-facts.js';
import { ENV } from './env-schema.js';
import { type AuthPassFileRead, type DirectoryCheck, type ParsedEnvironment, parseEnvironment, passFilePaths } from './env.js';
import type { HostFacts } from './host-facts.js';

/** The I/O half of configuration: host facts, the password files and the templates directory, then the pure parse. */
export async function loadEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  facts?: HostFacts,
): Promise<ParsedEnvironment> {
  const passFiles = await readPassFiles(passFilePaths(env));
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
  return parseEnvironment(env, facts ?? (await readHostFacts()), (path) => passFiles.get(path), templatesDirCheck);
}

/** Each password file's content, or the error code reading it, by path. */
export async function readPassFiles(paths: readonly string[]): Promise<Map<string, AuthPassFileRead>> {
  const reads = await Promise.all(
    paths.map((path) =>
      readFile(path, 'utf8').then(
        (content): AuthPassFileRead => ({ content }),
        (err: NodeJS.ErrnoException): AuthPassFileRead => ({ error: err.code ?? String(err) }),
      ),
    ),
  );
  return new Map(paths.map((p, i) => [p, reads[i]!]));
}
