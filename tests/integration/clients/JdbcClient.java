// pgjdbc (Debian's libpostgresql-jdbc-java) through sluice: compiled and run by jdbc_test.cpp.
//
// Usage: java -cp DIR:/usr/share/java/postgresql.jar JdbcClient JDBC_URL EXPECT_DB_TLS(t|f) [USER]
// The password comes from PGPASSWORD. Prints one "ok NAME" line per check; exits non-zero
// with a stack trace on the first failure.
import java.io.StringReader;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;

public class JdbcClient {
  static void check(boolean cond, String what) {
    if (!cond) throw new AssertionError(what);
  }

  static void ok(String name) {
    System.out.println("ok " + name);
    System.out.flush();
  }

  static String one(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
      check(r.next(), "no row for " + sql);
      return r.getString(1);
    }
  }

  public static void main(String[] args) throws Exception {
    String url = args[0];
    boolean expectTls = args[1].equals("t");
    Properties p = new Properties();
    String user = args.length > 2 ? args[2] : "postgres";
    p.setProperty("user", user);
    p.setProperty("password", System.getenv("PGPASSWORD"));
    p.setProperty("connectTimeout", "10");

    try (Connection c = DriverManager.getConnection(url, p)) {
      // Queries.
      check(one(c, "select count(*) from generate_series(1, 1000)").equals("1000"), "count");
      String ssl = one(c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()");
      check(ssl.equals(expectTls ? "t" : "f"), "database-side ssl " + ssl);
      check(one(c, "select current_user").equals(user), "current_user");
      ok("query");

      // PreparedStatement, server-prepared from the first execution (named statement, Bind
      // and Execute re-used), then an SQL-level PREPARE.
      try (PreparedStatement ps = c.prepareStatement("select ?::int * 2, ?::text")) {
        ps.unwrap(PGStatement.class).setPrepareThreshold(1);
        for (int i = 1; i <= 5; i++) {
          ps.setInt(1, i);
          ps.setString(2, "v" + i);
          try (ResultSet r = ps.executeQuery()) {
            check(r.next() && r.getInt(1) == 2 * i && r.getString(2).equals("v" + i), "prepared row");
          }
        }
        check(ps.unwrap(PGStatement.class).isUseServerPrepare(), "server-side prepare not used");
      }
      check(Integer.parseInt(one(c, "select count(*) from pg_prepared_statements where not from_sql")) >= 1,
          "no protocol-level prepared statement on the server");
      try (Statement s = c.createStatement()) {
        s.execute("prepare twice(int) as select $1 * 2");
      }
      check(one(c, "execute twice(21)").equals("42"), "execute twice");
      ok("prepared");

      // COPY in and out with CopyManager.
      try (Statement s = c.createStatement()) {
        s.execute("create temp table jdbc_copy(id int, name text)");
      }
      StringBuilder data = new StringBuilder("1\tone\n2\ttwo\n3\tthree\n");
      for (int i = 4; i <= 20000; i++) data.append(i).append("\tpad-").append(i).append('\n');
      CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
      long in = cm.copyIn("copy jdbc_copy from stdin", new StringReader(data.toString()));
      check(in == 20000, "copyIn rows " + in);
      StringWriter w = new StringWriter();
      long out = cm.copyOut("copy (select * from jdbc_copy order by id) to stdout", w);
      check(out == 20000, "copyOut rows " + out);
      check(w.toString().equals(data.toString()), "copyOut content");
      ok("copy");

      // LISTEN/NOTIFY between two connections.
      try (Connection l = DriverManager.getConnection(url, p)) {
        try (Statement s = l.createStatement()) {
          s.execute("listen jdbc_ch");
        }
        try (Statement s = c.createStatement()) {
          s.execute("notify jdbc_ch, 'from-jdbc'");
        }
        PGNotification[] ns = l.unwrap(PGConnection.class).getNotifications(10000);
        check(ns != null && ns.length == 1, "notifications " + (ns == null ? "null" : ns.length));
        check(ns[0].getName().equals("jdbc_ch") && ns[0].getParameter().equals("from-jdbc"),
            "notification " + ns[0].getName() + " " + ns[0].getParameter());
        ok("notify");

        // Statement.cancel() from another thread while pg_sleep runs.
        final long[] cancelledAt = {0};
        final Throwable[] cancelError = {null};
        try (Statement sleeper = c.createStatement()) {
          Thread t = new Thread(() -> {
            try {
              for (int i = 0; i < 200; i++) {
                if (one(l, "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'")
                        .equals("1"))
                  break;
                Thread.sleep(50);
              }
              cancelledAt[0] = System.nanoTime();
              sleeper.cancel();
            } catch (Throwable e) {
              cancelError[0] = e;
            }
          });
          t.start();
          try {
            sleeper.execute("select pg_sleep(30)");
            throw new AssertionError("pg_sleep was not cancelled");
          } catch (SQLException e) {
            long tookMs = (System.nanoTime() - cancelledAt[0]) / 1_000_000;
            System.out.println("cancel took " + tookMs + " ms: " + e.getSQLState() + " " + e.getMessage());
            check("57014".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            check(e.getMessage().contains("canceling statement due to user request"), e.getMessage());
            check(tookMs < 1000, "cancel took " + tookMs + " ms");
          }
          t.join();
          if (cancelError[0] != null) throw new AssertionError("cancel thread", cancelError[0]);
        }
      }
      check(one(c, "select 'alive'").equals("alive"), "alive after cancel");
      ok("cancel");
    }
    ok("all");
  }
}
