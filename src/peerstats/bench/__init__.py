"""The figures behind `peerstats bench` and its subcommands, one module per measure.

- sizes: `peerstats bench`, the seeder, refreshes and reads at each size (100k, 1M activities);
- exact: the exact API's part of it (reads with changes pending, write and bulk-insert costs);
- plots: the PNGs `peerstats bench` writes beside its JSON;
- freshness: `peerstats bench freshness`, from a write's commit to the API showing it;
- broadcasts: its Realtime part, from a commit to the message at a subscriber;
- load: `peerstats bench load`, many dashboards open at once;
- latency: the percentiles and query series they share.
"""
