// guest_options_test.cc - --guest-ring / guest_ring parsing (options.cc).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <initializer_list>

#include "host-backend/rings/options.h"

namespace vdvk::rings {
namespace {

// Each value of `flag` is refused, with an error naming the config `key`.
void ExpectRefused(const char* flag, const char* key, std::initializer_list<const char*> values) {
  for (const char* bad : values) {
    Options o;
    ParseResult r = ParseCommandLine({"--node", "1", flag, bad}, &o);
    EXPECT_FALSE(r.ok) << flag << ": accepted '" << bad << "'";
    EXPECT_NE(r.error.find(key), std::string::npos) << r.error;
  }
}

TEST(GuestOptions, RepeatableFlag) {
  Options o;
  ASSERT_TRUE(ParseCommandLine({"--node", "1", "--guest-ring", "/tmp/a", "--guest-ring=/tmp/b"}, &o).ok);
  ASSERT_EQ(o.guest_rings.size(), 2u);
  EXPECT_EQ(o.guest_rings[0].path, "/tmp/a");
  EXPECT_EQ(o.guest_rings[1].path, "/tmp/b");
  Options none;
  ASSERT_TRUE(ParseCommandLine({"--node", "1"}, &none).ok);
  EXPECT_TRUE(none.guest_rings.empty());
}

TEST(GuestOptions, GuestPollWindow) {
  Options o;
  EXPECT_EQ(o.guest_poll_us, 0);
  EXPECT_EQ(o.poll_us, 50);
  ASSERT_TRUE(ParseCommandLine({"--node", "1", "--guest-poll-us", "40"}, &o).ok);
  EXPECT_EQ(o.guest_poll_us, 40);
  EXPECT_EQ(o.poll_us, 50);
  ASSERT_TRUE(ApplyConfigText("guest_poll_us = 7\n", "f", &o).ok);
  EXPECT_EQ(o.guest_poll_us, 7);
  ExpectRefused("--guest-poll-us", "guest_poll_us", {"-1"});
}

TEST(GuestOptions, PinTimeout) {
  Options o;
  EXPECT_EQ(o.pin_timeout_ms, 5000);
  ASSERT_TRUE(ParseCommandLine({"--node", "1", "--pin-timeout-ms", "250"}, &o).ok);
  EXPECT_EQ(o.pin_timeout_ms, 250);
  ASSERT_TRUE(ApplyConfigText("pin_timeout_ms = 700\n", "f", &o).ok);
  EXPECT_EQ(o.pin_timeout_ms, 700);
  ExpectRefused("--pin-timeout-ms", "pin_timeout_ms", {"0", "-5", "600001", "1s"});
}

TEST(GuestOptions, UserOfTheRingFiles) {
  Options o;
  ASSERT_TRUE(ParseCommandLine({"--node", "1", "--guest-ring", "/tmp/a,user=nobody", "--guest-ring",
                                "/tmp/b", "--guest-ring", "/tmp/c,user=1000"},
                               &o)
                  .ok);
  ASSERT_EQ(o.guest_rings.size(), 3u);
  EXPECT_EQ(o.guest_rings[0].path, "/tmp/a");
  EXPECT_EQ(o.guest_rings[0].user, "nobody");
  EXPECT_EQ(o.guest_rings[1].user, "");
  EXPECT_EQ(o.guest_rings[2].user, "1000");
  ASSERT_TRUE(ApplyConfigText("guest_ring = /tmp/d,user=dvk-guest_1\n", "f", &o).ok);
  EXPECT_EQ(o.guest_rings.back().user, "dvk-guest_1");
  ExpectRefused("--guest-ring", "guest_ring",
                {"/tmp/a,user=", "/tmp/a,owner=x", "/tmp/a,user=x,user=y", "/tmp/a,user=a b",
                 "/tmp/a,user=$(id)", ",user=x"});
}

TEST(GuestOptions, RejectsPathsTheKernelCommandLineWouldSplit) {
  ExpectRefused("--guest-ring", "guest_ring", {"", "/tmp/a b", "/tmp/a,b", "/tmp/a\tb"});
}

TEST(GuestOptions, ConfigFileListReplacedByFlags) {
  Options o;
  ASSERT_TRUE(ApplyConfigText("guest_ring = /tmp/x\nguest_ring = /tmp/y\n", "f", &o).ok);
  ASSERT_EQ(o.guest_rings.size(), 2u);
  EXPECT_EQ(o.guest_rings[1].path, "/tmp/y");

  char path[] = "/tmp/guest_options_test.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const char text[] = "node = 2\nguest_ring = /tmp/from-file\n";
  ASSERT_EQ(write(fd, text, sizeof(text) - 1), static_cast<ssize_t>(sizeof(text) - 1));
  close(fd);
  Options file_only;
  ASSERT_TRUE(ParseCommandLine({"--config", path}, &file_only).ok);
  ASSERT_EQ(file_only.guest_rings.size(), 1u);
  EXPECT_EQ(file_only.guest_rings[0].path, "/tmp/from-file");
  Options both;
  ASSERT_TRUE(ParseCommandLine({"--config", path, "--guest-ring", "/tmp/from-flag"}, &both).ok);
  ASSERT_EQ(both.guest_rings.size(), 1u);
  EXPECT_EQ(both.guest_rings[0].path, "/tmp/from-flag");
  unlink(path);
}

}  // namespace
}  // namespace vdvk::rings
