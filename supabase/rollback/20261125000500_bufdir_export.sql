-- Down: the Bufdir export function. Base tables, their rows and the views are untouched.
drop function if exists private.bufdir_export(integer);
