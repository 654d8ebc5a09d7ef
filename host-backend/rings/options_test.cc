#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "host-backend/rings/options.h"

namespace vdvk::rings {
namespace {

TEST(Options, DefaultsAndFlags) {
  Options o;
  ASSERT_TRUE(ParseCommandLine({"--node", "3"}, &o).ok);
  EXPECT_EQ(*o.node, 3);
  EXPECT_EQ(o.socket, "/run/vdvk/node3.sock");
  EXPECT_EQ(o.poll_us, 50);
  Options p;
  ASSERT_TRUE(ParseCommandLine({"--node=5", "--socket", "/tmp/x.sock", "--poll-us", "0",
                                "--log-level", "debug", "--sq-entries", "128"}, &p).ok);
  EXPECT_EQ(*p.node, 5);
  EXPECT_EQ(p.socket, "/tmp/x.sock");
  EXPECT_EQ(p.poll_us, 0);
  EXPECT_EQ(p.log_level, "debug");
  EXPECT_EQ(p.sq_entries, 128u);
}

TEST(Options, Errors) {
  Options o;
  EXPECT_FALSE(ParseCommandLine({}, &o).ok);  // --node required
  Options a;
  auto r = ParseCommandLine({"--node", "32"}, &a);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("32"), std::string::npos);
  Options b;
  EXPECT_FALSE(ParseCommandLine({"--node", "1", "--bogus"}, &b).ok);
  Options c;
  EXPECT_FALSE(ParseCommandLine({"--node"}, &c).ok);
  Options d;
  EXPECT_FALSE(ParseCommandLine({"--node", "1x"}, &d).ok);
  Options e;
  EXPECT_FALSE(ParseCommandLine({"--node", "1", "--sq-entries", "100"}, &e).ok);
  Options f;
  EXPECT_FALSE(ParseCommandLine({"--node", "1", "--log-level", "loud"}, &f).ok);
  Options i;
  EXPECT_TRUE(ParseCommandLine({"-h"}, &i).ok);
  EXPECT_TRUE(i.help);
}

TEST(Options, ConfigText) {
  Options o;
  auto r = ApplyConfigText("# comment\nnode = 4\n\nsocket=/tmp/n4.sock  # trailing\n"
                           "dc0_nr_procs = 100\nmax_copylen = 4096\npoll_us = 10\n",
                           "f.conf", &o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(*o.node, 4);
  EXPECT_EQ(o.socket, "/tmp/n4.sock");
  EXPECT_EQ(o.dc0_nr_procs, 100);
  EXPECT_EQ(o.max_copylen, 4096);
  EXPECT_EQ(o.poll_us, 10);
  Options p;
  r = ApplyConfigText("node = 1\ncolour = blue\n", "f.conf", &p);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("f.conf:2"), std::string::npos) << r.error;
  Options q;
  r = ApplyConfigText("node = 99\n", "g.conf", &q);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("g.conf:1"), std::string::npos) << r.error;
  Options s;
  r = ApplyConfigText("just words\n", "h.conf", &s);
  EXPECT_FALSE(r.ok);
}

}  // namespace
}  // namespace vdvk::rings

namespace vdvk::rings {
namespace {

TEST(Options, FlagsOverrideConfigFile) {
  char path[] = "/tmp/options-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "node = 2\nsocket = /tmp/from-file.sock\npoll_us = 7\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  Options o;
  auto r = ParseCommandLine({"--poll-us", "9", "--config", path}, &o);
  unlink(path);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(*o.node, 2);
  EXPECT_EQ(o.socket, "/tmp/from-file.sock");
  EXPECT_EQ(o.poll_us, 9);  // the flag wins even though it came first
  Options p;
  EXPECT_FALSE(ParseCommandLine({"--node", "1", "--config", "/nonexistent/x.conf"}, &p).ok);
}

TEST(Options, NodeLinks) {
  Options o;
  ASSERT_TRUE(ParseCommandLine({"--node", "1", "--listen", "127.0.0.1:7001", "--peer",
                                "2=127.0.0.1:7002", "--peer=3=host.example:7003", "--token",
                                "s3cret", "--heartbeat-ms", "100", "--dead-ms", "400"}, &o).ok);
  EXPECT_EQ(o.listen, "127.0.0.1:7001");
  ASSERT_EQ(o.peers.size(), 2u);
  EXPECT_EQ(o.peers[0].id, 2);
  EXPECT_EQ(o.peers[0].address, "127.0.0.1:7002");
  EXPECT_EQ(o.peers[1].id, 3);
  EXPECT_EQ(o.peers[1].address, "host.example:7003");
  EXPECT_EQ(o.token, "s3cret");
  EXPECT_EQ(o.heartbeat_ms, 100);
  EXPECT_EQ(o.dead_ms, 400);

  Options f;
  ASSERT_TRUE(ApplyConfigText("listen = 0.0.0.0:9000\npeer = 4=10.0.0.4:9000\ntoken = t\n",
                              "f.conf", &f).ok);
  EXPECT_EQ(f.listen, "0.0.0.0:9000");
  ASSERT_EQ(f.peers.size(), 1u);
  EXPECT_EQ(f.peers[0].id, 4);

  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"--node", "1", "--listen", "nohost"},
           {"--node", "1", "--listen", "h:0"},
           {"--node", "1", "--listen", "h:65536"},
           {"--node", "1", "--listen", ":80"},
           {"--node", "1", "--peer", "2:h:1"},
           {"--node", "1", "--peer", "32=h:1"},
           {"--node", "1", "--peer", "1=h:1"},  // our own id
           {"--node", "1", "--peer", "2=h:1", "--peer", "2=h:2"},
           {"--node", "1", "--heartbeat-ms", "500", "--dead-ms", "500"},
       }) {
    Options x;
    EXPECT_FALSE(ParseCommandLine(bad, &x).ok) << bad[2] << " " << bad[3];
  }
}

}  // namespace
}  // namespace vdvk::rings
