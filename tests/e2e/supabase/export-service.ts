// The export service as the seed builds it: every method one supabase-js call on the
// table export_logs, row-level security deciding what the caller sees. Nothing here
// knows it talks to the ledger.
import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';

export type ExportFormat = 'json' | 'jsonl' | 'csv' | 'markdown';
export type ExportStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'expired';

export interface ExportConfig {
  scope: 'all' | 'filtered' | 'selected';
  format: ExportFormat;
  includeMetadata: boolean;
  includeQualityScores: boolean;
  includeTimestamps: boolean;
  includeApprovalHistory: boolean;
  includeChunkContext: boolean;
  includeDimensions: boolean;
}

export interface ExportLog {
  id: string;
  export_id: string;
  user_id: string;
  timestamp: string;
  format: ExportFormat;
  config: ExportConfig;
  conversation_count: number;
  file_size: number | null;
  status: ExportStatus;
  file_url: string | null;
  expires_at: string | null;
  error_message: string | null;
  created_at: string;
  updated_at: string;
}

export interface CreateExportLogInput {
  user_id: string;
  format: ExportFormat;
  config: ExportConfig;
  conversation_count: number;
  status?: ExportStatus;
}

export interface UpdateExportLogInput {
  status?: ExportStatus;
  file_size?: number;
  file_url?: string;
  expires_at?: string;
  error_message?: string;
}

export interface ListFilters {
  format?: ExportFormat;
  status?: ExportStatus;
  dateFrom?: string;
  dateTo?: string;
}

export class ExportNotFoundError extends Error {
  constructor(exportId: string) {
    super(`Export not found: ${exportId}`);
    this.name = 'ExportNotFoundError';
  }
}

export class ExportPermissionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportPermissionError';
  }
}

export class ExportService {
  constructor(private readonly supabase: SupabaseClient) {}

  async createExportLog(input: CreateExportLogInput): Promise<ExportLog> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .insert({
        export_id: randomUUID(),
        user_id: input.user_id,
        format: input.format,
        config: input.config,
        conversation_count: input.conversation_count,
        status: input.status ?? 'queued',
        timestamp: new Date().toISOString(),
      })
      .select()
      .single();
    if (error) {
      if (error.code === '42501') throw new ExportPermissionError(error.message);
      throw new Error(`Failed to create export log: ${error.code} ${error.message}`);
    }
    return data as ExportLog;
  }

  async getExportLog(exportId: string): Promise<ExportLog | null> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .select('*')
      .eq('export_id', exportId)
      .single();
    if (error) {
      if (error.code === 'PGRST116') return null;
      throw new Error(`Failed to get export log: ${error.code} ${error.message}`);
    }
    return data as ExportLog;
  }

  async listExportLogs(
    userId: string,
    filters: ListFilters = {},
    pagination: { page: number; limit: number } = { page: 1, limit: 25 },
  ): Promise<{ logs: ExportLog[]; total: number }> {
    let query = this.supabase
      .from('export_logs')
      .select('*', { count: 'exact' })
      .eq('user_id', userId)
      .order('timestamp', { ascending: false });
    if (filters.format) query = query.eq('format', filters.format);
    if (filters.status) query = query.eq('status', filters.status);
    if (filters.dateFrom) query = query.gte('timestamp', filters.dateFrom);
    if (filters.dateTo) query = query.lte('timestamp', filters.dateTo);
    const from = (pagination.page - 1) * pagination.limit;
    const { data, error, count } = await query.range(from, from + pagination.limit - 1);
    if (error) throw new Error(`Failed to list export logs: ${error.code} ${error.message}`);
    return { logs: (data ?? []) as ExportLog[], total: count ?? 0 };
  }

  async updateExportLog(exportId: string, updates: UpdateExportLogInput): Promise<ExportLog> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .update({ ...updates, updated_at: new Date().toISOString() })
      .eq('export_id', exportId)
      .select()
      .single();
    if (error) {
      if (error.code === 'PGRST116') throw new ExportNotFoundError(exportId);
      throw Object.assign(new Error(`Failed to update export log: ${error.message}`), {
        code: error.code,
      });
    }
    return data as ExportLog;
  }

  async deleteExportLog(exportId: string): Promise<void> {
    const { error } = await this.supabase.from('export_logs').delete().eq('export_id', exportId);
    if (error) throw new Error(`Failed to delete export log: ${error.code} ${error.message}`);
  }

  async markExpiredExports(): Promise<number> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .update({ status: 'expired', updated_at: new Date().toISOString() })
      .eq('status', 'completed')
      .lt('expires_at', new Date().toISOString())
      .select('id');
    if (error) throw new Error(`Failed to mark expired exports: ${error.code} ${error.message}`);
    return data?.length ?? 0;
  }
}

// The retention cron: counts, finds and deletes old rows in batches, as the service role.
export class ExportCleanup {
  constructor(private readonly supabase: SupabaseClient) {}

  async countOlderThan(cutoff: string): Promise<number> {
    const { count, error } = await this.supabase
      .from('export_logs')
      .select('*', { count: 'exact', head: true })
      .lt('created_at', cutoff);
    if (error) throw new Error(`Failed to count: ${error.code} ${error.message}`);
    return count ?? 0;
  }

  async oldestCreatedAt(): Promise<string | null> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .select('created_at')
      .order('created_at', { ascending: true })
      .limit(1)
      .single();
    if (error) {
      if (error.code === 'PGRST116') return null;
      throw new Error(`Failed to find the oldest: ${error.code} ${error.message}`);
    }
    return (data as { created_at: string }).created_at;
  }

  async fetchOlderThan(cutoff: string): Promise<ExportLog[]> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .select('*')
      .lt('created_at', cutoff)
      .order('created_at', { ascending: true });
    if (error) throw new Error(`Failed to fetch: ${error.code} ${error.message}`);
    return (data ?? []) as ExportLog[];
  }

  async deleteByIds(ids: string[]): Promise<void> {
    for (let at = 0; at < ids.length; at += 100) {
      const { error } = await this.supabase
        .from('export_logs')
        .delete()
        .in('id', ids.slice(at, at + 100));
      if (error) throw new Error(`Failed to delete: ${error.code} ${error.message}`);
    }
  }

  async deleteUserExports(userId: string): Promise<string[]> {
    const { data, error } = await this.supabase
      .from('export_logs')
      .delete()
      .eq('user_id', userId)
      .select('id');
    if (error) throw new Error(`Failed to delete a user's exports: ${error.code} ${error.message}`);
    return ((data ?? []) as { id: string }[]).map((row) => row.id);
  }
}
