"""The PostgREST protocol of the Supabase-compatible surface: its query grammar and errors."""
