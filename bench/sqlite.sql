-- sqlite.sql -- workload 9b: sqlite3 inserting and querying rows in an
-- in-memory database.  bench/run copies it with @ROWS@ replaced by the
-- number of rows and runs `sqlite3 :memory: ".read FILE"`.  The data are
-- computed (no random()), so every run does the same work.
PRAGMA cache_size = -200000;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < @ROWS@)
  INSERT INTO t SELECT x, (x * 7919) % 1000, printf('%08x-%s', (x * 2654435761) % 4294967296, hex(x * 31)), x / 7.0 FROM n;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b);
SELECT a, count(*), sum(c) FROM t GROUP BY a ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(*) FROM t WHERE b LIKE '1%';
SELECT count(*) FROM t AS x JOIN t AS y ON y.id = x.a + 1 WHERE x.id % 10 = 0;
UPDATE t SET b = b || '-updated' WHERE a < 300;
DELETE FROM t WHERE a % 3 = 0;
SELECT count(*), sum(length(b)) FROM t;
SELECT group_concat(b, ',') IS NOT NULL FROM (SELECT b FROM t ORDER BY b LIMIT 20000);
