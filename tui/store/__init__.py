"""The two files on disk: features.h5 (read) and labels.sqlite (the answers log, its
schema, team leases, answers pending a locked file, read-only opening). The only
readers and writers of those files; imports no other tui package."""
