/**
 * Built-in MySQL/MariaDB functions known to only compute a value. Every other function —
 * stored functions, UDFs, and built-ins that lock, wait, read server files or change state
 * (`GET_LOCK`, `RELEASE_LOCK`, `SLEEP`, `BENCHMARK`, `LOAD_FILE`, `MASTER_POS_WAIT`,
 * `LAST_INSERT_ID(expr)`, `NEXTVAL`, `SETVAL`, `NAME_CONST`, `SYS_EXEC`…) — makes a statement
 * not read-only. An allow-list, so a function Sluice has not heard of never counts as a read.
 */
export const READ_ONLY_FUNCTIONS: ReadonlySet<string> = new Set(
  `
abs acos adddate addtime aes_decrypt aes_encrypt any_value ascii asin atan atan2 avg
bin bit_and bit_count bit_length bit_or bit_xor
cast ceil ceiling char char_length character_length charset coalesce coercibility collation
compress concat concat_ws connection_id conv convert convert_tz cos cot count crc32
curdate current_date current_role current_time current_timestamp current_user curtime
database date date_add date_format date_sub datediff day dayname dayofmonth dayofweek dayofyear
degrees dense_rank elt exp export_set extract field find_in_set first_value floor format
found_rows from_base64 from_days from_unixtime get_format greatest group_concat hex hour
if ifnull inet6_aton inet6_ntoa inet_aton inet_ntoa insert instr is_ipv4 is_ipv6 isnull
json_array json_arrayagg json_contains json_contains_path json_depth json_extract json_keys
json_length json_object json_objectagg json_overlaps json_quote json_search json_type
json_unquote json_valid json_value lag last_day last_value lcase lead least left length ln
locate log log10 log2 lower lpad ltrim make_set makedate maketime max md5 microsecond mid
min minute mod month monthname now nth_value ntile nullif oct octet_length ord percent_rank
period_add period_diff pi position pow power quarter quote radians rand rank regexp_instr
regexp_like regexp_replace regexp_substr repeat replace reverse right round row_count
row_number rpad rtrim schema sec_to_time second session_user sha sha1 sha2 sign sin soundex
space sqrt std stddev stddev_pop stddev_samp str_to_date strcmp subdate substr substring
substring_index subtime sum sysdate system_user tan time time_format time_to_sec timediff
timestamp timestampadd timestampdiff to_base64 to_days to_seconds trim truncate ucase
uncompress uncompressed_length unhex unix_timestamp upper user utc_date utc_time
utc_timestamp uuid uuid_short var_pop var_samp variance version week weekday weekofyear
weight_string year yearweek
`
    .trim()
    .split(/\s+/),
);
