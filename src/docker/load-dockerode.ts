import Module, { createRequire } from 'node:module';
import type Dockerode from 'dockerode';

// Loads dockerode without the parts a unix-socket or TCP client never runs.
//
// dockerode requires them at load time, not when used:
//   dockerode/lib/docker.js   -> ./session  -> @grpc/grpc-js, @grpc/proto-loader (-> protobufjs)
//                                              (BuildKit sessions: buildImage with version "2")
//   docker-modem/lib/modem.js -> ./ssh      -> ssh2
//                                              (ssh:// endpoints)
// Together they are about a third of the agent's memory (ssh2 alone allocates
// ~17 MB outside the heap at load), and neither can be skipped through
// dockerode's or docker-modem's options: both requires sit at the top of the
// files that define Docker and Modem. vipkeeper builds no images and accepts
// only unix:// and tcp:// endpoints, and every call it makes (version, ping,
// info, listContainers, getContainer().inspect, getEvents, listServices,
// listTasks, listNodes, getNode().inspect) goes through modem.dial over http(s).
//
// So before dockerode loads, the require cache gets an entry for each of those
// three packages, at the exact file dockerode or docker-modem would load. No
// resolver hook: nothing else about `require` changes, and only these files,
// resolved from dockerode's own directory, are affected. Each entry is inert
// while dockerode merely loads (property reads give functions), and calling or
// constructing anything in it throws an error that says what happened. Should
// a dockerode update start to use them at load time, importing fails loudly,
// and test/unit/load-dockerode.test.ts checks none of them is loaded.

/** The packages dockerode loads but vipkeeper never runs, and why it never does. */
export const UNUSED_BY_VIPKEEPER: Readonly<Record<string, string>> = {
  '@grpc/grpc-js': 'BuildKit sessions (buildImage with version "2"); vipkeeper builds no images',
  '@grpc/proto-loader': 'BuildKit sessions (buildImage with version "2"); vipkeeper builds no images',
  ssh2: 'ssh:// Docker endpoints; vipkeeper accepts unix:// and tcp:// only',
};

/** Where each of those packages would be loaded from: by dockerode, or by docker-modem. */
function unusedFiles(): Map<string, string> {
  const fromHere = createRequire(import.meta.url);
  const fromDockerode = createRequire(fromHere.resolve('dockerode'));
  const fromModem = createRequire(fromDockerode.resolve('docker-modem'));
  return new Map([
    [fromDockerode.resolve('@grpc/grpc-js'), '@grpc/grpc-js'],
    [fromDockerode.resolve('@grpc/proto-loader'), '@grpc/proto-loader'],
    [fromModem.resolve('ssh2'), 'ssh2'],
  ]);
}

/** An inert stand-in: reading a property gives a function; calling or constructing anything throws. */
function unusedPackage(name: string, path: readonly string[] = []): object {
  const refuse = (): never => {
    const what = [name, ...path].join('.');
    throw new Error(`${what} was called, but vipkeeper does not load ${name}: it is only used for ${UNUSED_BY_VIPKEEPER[name]}`);
  };
  return new Proxy(function unused() {}, {
    get: (_target, key) => (typeof key === 'symbol' || key === 'then' || key === '__esModule' ? undefined : unusedPackage(name, [...path, key])),
    apply: refuse,
    construct: refuse,
  });
}

/** Puts the stand-ins in the require cache, unless dockerode (or one of them) is loaded already. */
function keepUnusedPackagesOut(): void {
  const cache = createRequire(import.meta.url).cache;
  const files = unusedFiles();
  for (const [file, name] of files) {
    if (cache[file]) continue; // loaded for real by someone else: leave it
    const stub = new Module(file);
    stub.filename = file;
    stub.loaded = true;
    stub.exports = unusedPackage(name);
    cache[file] = stub;
  }
}

keepUnusedPackagesOut();

/**
 * dockerode's constructor, loaded after the stand-ins are in place. Import this
 * module before any `import ... from 'dockerode'`: that import then finds
 * dockerode loaded already (ES modules run their imports in source order).
 */
export const Docker = createRequire(import.meta.url)('dockerode') as typeof Dockerode;
