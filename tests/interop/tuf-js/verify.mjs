// Refreshes a Rampart TUF repository with tuf-js (an independent TUF client) and downloads one
// target. Usage: node verify.mjs METADATA_URL TARGETS_URL TRUSTED_ROOT TARGET_NAME WORKDIR
// Exit 0 and one JSON line on success; exit 1 with the client's error on any refusal.
import fs from 'node:fs';
import path from 'node:path';
import { Updater } from 'tuf-js';

const [metadataBaseUrl, targetBaseUrl, trustedRoot, targetName, workDir] = process.argv.slice(2);
if (!workDir) {
  console.error('usage: verify.mjs METADATA_URL TARGETS_URL TRUSTED_ROOT TARGET_NAME WORKDIR');
  process.exit(2);
}

const metadataDir = path.join(workDir, 'metadata');
const targetDir = path.join(workDir, 'targets');
fs.mkdirSync(metadataDir, { recursive: true });
fs.mkdirSync(targetDir, { recursive: true });
fs.copyFileSync(trustedRoot, path.join(metadataDir, 'root.json'));

try {
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl,
    targetDir,
    targetBaseUrl,
    config: { fetchRetry: 0 },
  });
  await updater.refresh();
  const info = await updater.getTargetInfo(targetName);
  if (!info) {
    console.error(`tuf-js: no target named ${targetName}`);
    process.exit(1);
  }
  const file = await updater.downloadTarget(info);
  console.log(JSON.stringify({ ok: true, target: targetName, length: info.length, hashes: info.hashes, file }));
} catch (error) {
  console.error(`tuf-js refused: ${error && error.name}: ${error && error.message}`);
  process.exit(1);
}
