"""peerstats: the statistics layer under a Supabase peer-mentor dashboard and its Bufdir export."""

__version__ = "0.1.0"
