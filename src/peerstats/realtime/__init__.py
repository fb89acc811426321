"""Supabase Realtime as peerstats meets it: the schema realtime's daily partitions as the server
keeps them, and the server's own authorization of a join to a private channel."""
