// The seed's test script on the real supabase-js, pointed at the ledger, plus what a
// Supabase app also relies on: pages and counts, another user's isolation, the
// service role, the retention cron. Exits non-zero naming the first step that fails.
import assert from 'node:assert/strict';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import {
  ExportCleanup,
  ExportNotFoundError,
  ExportService,
  type ExportConfig,
  type ExportLog,
} from './export-service.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const url = env('SUPABASE_URL');
const anonKey = env('SUPABASE_ANON_KEY');

function clientFor(token: string): SupabaseClient {
  return createClient(url, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: { Authorization: `Bearer ${token}` } },
  });
}

const userA = env('USER_A_ID');
const userB = env('USER_B_ID');
const tokenA = env('USER_A_TOKEN');
const asA = new ExportService(clientFor(tokenA));
const asB = new ExportService(clientFor(env('USER_B_TOKEN')));
const serviceClient = createClient(url, env('SUPABASE_SERVICE_ROLE_KEY'), {
  auth: { persistSession: false, autoRefreshToken: false },
});
const asService = new ExportService(serviceClient);
const cron = new ExportCleanup(serviceClient);

const config: ExportConfig = {
  scope: 'all',
  format: 'jsonl',
  includeMetadata: true,
  includeQualityScores: true,
  includeTimestamps: true,
  includeApprovalHistory: false,
  includeChunkContext: false,
  includeDimensions: true,
};

const COLUMNS = [
  'id', 'export_id', 'user_id', 'timestamp', 'format', 'config', 'conversation_count',
  'file_size', 'status', 'file_url', 'expires_at', 'error_message', 'created_at', 'updated_at',
];

function checkRow(row: ExportLog): void {
  assert.deepEqual(Object.keys(row).sort(), [...COLUMNS].sort());
  for (const name of ['id', 'export_id', 'user_id', 'format', 'status']) {
    assert.equal(typeof (row as unknown as Record<string, unknown>)[name], 'string', name);
  }
  assert.equal(typeof row.conversation_count, 'number');
  assert.equal(typeof row.config, 'object');
  for (const name of ['timestamp', 'created_at', 'updated_at'] as const) {
    assert.ok(!Number.isNaN(new Date(row[name]).getTime()), `${name} parses as a Date`);
  }
  if (row.file_size !== null) assert.equal(typeof row.file_size, 'number');
  if (row.expires_at !== null) assert.ok(!Number.isNaN(new Date(row.expires_at).getTime()));
}

let passed = 0;
async function step(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    console.error(`FAILED: ${name}:`, error);
    process.exit(1);
  }
  passed += 1;
  console.log(`ok ${passed} ${name}`);
}

const hour = 3600_000;
let log: ExportLog;
let expiring: ExportLog;

await step('1. create', async () => {
  log = await asA.createExportLog({ user_id: userA, format: 'jsonl', config, conversation_count: 42 });
  checkRow(log);
  assert.equal(log.status, 'queued');
  assert.equal(log.user_id, userA);
  assert.deepEqual(log.config, config);
  assert.notEqual(log.id, log.export_id);
});

await step('2. get it at once', async () => {
  const got = await asA.getExportLog(log.export_id);
  assert.deepEqual(got, log);
});

await step('3. get a missing export: null', async () => {
  assert.equal(await asA.getExportLog('non-existent-uuid'), null);
  assert.equal(await asA.getExportLog('00000000-0000-4000-8000-000000000000'), null);
});

await step('4. processing', async () => {
  const moved = await asA.updateExportLog(log.export_id, { status: 'processing' });
  assert.equal(moved.status, 'processing');
});

await step('5. completed with size, url and expiry', async () => {
  const expires = new Date(Date.now() + 24 * hour).toISOString();
  const done = await asA.updateExportLog(log.export_id, {
    status: 'completed',
    file_size: 1024000,
    file_url: 'https://storage.example.com/exports/test.jsonl',
    expires_at: expires,
  });
  checkRow(done);
  assert.equal(done.status, 'completed');
  assert.equal(done.file_size, 1024000);
  assert.equal(new Date(done.expires_at!).getTime(), new Date(expires).getTime());
  assert.ok(new Date(done.updated_at) >= new Date(log.updated_at));
  log = done;
});

await step('6. list, pages and an exact count', async () => {
  for (let i = 0; i < 4; i++) {
    await asA.createExportLog({ user_id: userA, format: 'csv', config: { ...config, format: 'csv' }, conversation_count: i });
  }
  const first = await asA.listExportLogs(userA, {}, { page: 1, limit: 2 });
  const second = await asA.listExportLogs(userA, {}, { page: 2, limit: 2 });
  const all = await asA.listExportLogs(userA, {}, { page: 1, limit: 100 });
  assert.equal(first.total, 5);
  assert.equal(all.total, 5);
  assert.equal(all.logs.length, 5);
  assert.equal(first.logs.length, 2);
  const ids = new Set([...first.logs, ...second.logs].map((r) => r.id));
  assert.equal(ids.size, 4, 'pages do not overlap');
  const times = all.logs.map((r) => new Date(r.timestamp).getTime());
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
  assert.ok(all.logs.some((r) => r.export_id === log.export_id));
});

await step('7. list with filters', async () => {
  const filtered = await asA.listExportLogs(userA, { format: 'jsonl', status: 'completed' });
  assert.deepEqual(filtered.logs.map((r) => r.export_id), [log.export_id]);
  assert.equal(filtered.total, 1);
  const around = await asA.listExportLogs(userA, {
    dateFrom: new Date(new Date(log.timestamp).getTime() - 1).toISOString(),
    dateTo: log.timestamp,
  });
  assert.ok(around.logs.some((r) => r.export_id === log.export_id));
  const later = await asA.listExportLogs(userA, { dateFrom: new Date(Date.now() + hour).toISOString() });
  assert.deepEqual(later, { logs: [], total: 0 });
});

await step('8. create completed (json, with a jsonl config), then only its expiry in the past', async () => {
  expiring = await asA.createExportLog({
    user_id: userA, format: 'json', config, conversation_count: 10, status: 'completed',
  });
  assert.equal(expiring.status, 'completed');
  assert.equal(expiring.format, 'json');
  assert.deepEqual(expiring.config, config);
  const past = new Date(Date.now() - 1000).toISOString();
  const updated = await asA.updateExportLog(expiring.export_id, { expires_at: past });
  assert.equal(new Date(updated.expires_at!).getTime(), new Date(past).getTime());
  assert.equal(updated.status, 'completed');
});

await step('9. mark expired exports, as the user', async () => {
  const count = await asA.markExpiredExports();
  assert.equal(count, 1);
  assert.equal((await asA.getExportLog(expiring.export_id))?.status, 'expired');
  assert.equal((await asA.getExportLog(log.export_id))?.status, 'completed');
});

await step('10. update a missing export: ExportNotFoundError', async () => {
  await assert.rejects(
    asA.updateExportLog('non-existent-uuid', { status: 'processing' }),
    ExportNotFoundError,
  );
});

await step('10b. a move the ledger refuses: 409, nothing changed', async () => {
  await assert.rejects(asA.updateExportLog(log.export_id, { status: 'queued' }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'LDG02');
    assert.match(error.message, /completed/);
    assert.match(error.message, /queued/);
    return true;
  });
  assert.equal((await asA.getExportLog(log.export_id))?.status, 'completed');
});

await step('11. a user delete deletes nothing', async () => {
  await asA.deleteExportLog(log.export_id);
  assert.notEqual(await asA.getExportLog(log.export_id), null);
});

await step('12. another user sees and changes nothing', async () => {
  assert.equal(await asB.getExportLog(log.export_id), null);
  assert.deepEqual(await asB.listExportLogs(userA), { logs: [], total: 0 });
  await assert.rejects(asB.updateExportLog(log.export_id, { status: 'expired' }), ExportNotFoundError);
  assert.equal(await asB.markExpiredExports(), 0);
  await assert.rejects(
    asB.createExportLog({ user_id: userA, format: 'json', config, conversation_count: 1 }),
    (error: Error) => error.name === 'ExportPermissionError',
  );
  assert.equal((await asA.listExportLogs(userA)).total, 6);
});

await step('13. auth.getUser', async () => {
  const { data, error } = await clientFor(tokenA).auth.getUser(tokenA);
  assert.equal(error, null);
  assert.equal(data.user?.id, userA);
});

await step('14. delete as the service role, then get: null', async () => {
  await asService.deleteExportLog(log.export_id);
  assert.equal(await asA.getExportLog(log.export_id), null);
  assert.equal(await asService.getExportLog(log.export_id), null);
});

await step('15. the cron: count, oldest, fetch, delete by ids', async () => {
  const cutoff = new Date(Date.now() + 1000).toISOString();
  const before = await cron.countOlderThan(cutoff);
  assert.ok(before >= 5, `counted ${before}`);
  const oldest = await cron.oldestCreatedAt();
  assert.ok(oldest !== null && new Date(oldest) <= new Date(cutoff));
  const rows = await cron.fetchOlderThan(cutoff);
  assert.equal(rows.length, before);
  assert.equal(rows[0].created_at, oldest);
  const mine = rows.filter((r) => r.user_id === userA && r.status === 'queued').map((r) => r.id);
  await cron.deleteByIds(mine);
  assert.equal(await cron.countOlderThan(cutoff), before - mine.length);
  const gone = await cron.deleteUserExports(userA);
  assert.equal(gone.length, before - mine.length);
  assert.equal(await cron.countOlderThan(cutoff), 0);
});

console.log(`ALL PASSED ${passed}`);
