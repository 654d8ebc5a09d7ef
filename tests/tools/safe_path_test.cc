// safe_path_test.cc - m3ftpd's confinement of client-supplied names to --root.
#include "proxies/m3ftp/safe_path.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "dvk/dvk.h"

namespace vdvk::tools {
namespace {

class SafePathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/vdvk-safepath.XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    char real[PATH_MAX];
    ASSERT_NE(realpath(templ, real), nullptr);
    base_ = real;
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/sub").c_str(), 0755), 0);
    std::ofstream(root_ + "/a.txt") << "a";
    std::ofstream(root_ + "/sub/b.txt") << "b";
    std::ofstream(base_ + "/secret.txt") << "s";
    ASSERT_EQ(symlink((base_ + "/secret.txt").c_str(), (root_ + "/escape").c_str()), 0);
    ASSERT_EQ(symlink(base_.c_str(), (root_ + "/updir").c_str()), 0);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + base_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string base_, root_;
};

TEST_F(SafePathTest, ExistingFilesInsideTheRootResolve) {
  std::string out;
  EXPECT_EQ(ResolveExisting(root_, "a.txt", &out), 0);
  EXPECT_EQ(out, root_ + "/a.txt");
  EXPECT_EQ(ResolveExisting(root_, "./sub//b.txt", &out), 0);
  EXPECT_EQ(out, root_ + "/sub/b.txt");
  EXPECT_EQ(ResolveExisting(root_, root_ + "/sub/b.txt", &out), 0);  // absolute, inside
}

TEST_F(SafePathTest, EscapesAreRefused) {
  std::string out = "untouched";
  EXPECT_EQ(ResolveExisting(root_, "../secret.txt", &out), EDVSACCES);
  EXPECT_EQ(ResolveExisting(root_, "sub/../../secret.txt", &out), EDVSACCES);
  EXPECT_EQ(ResolveExisting(root_, "sub/../a.txt", &out), EDVSACCES);  // any ".." at all
  EXPECT_EQ(ResolveExisting(root_, base_ + "/secret.txt", &out), EDVSACCES);
  EXPECT_EQ(ResolveExisting(root_, "/etc/passwd", &out), EDVSACCES);
  EXPECT_EQ(ResolveExisting(root_, root_ + "x/a.txt", &out), EDVSACCES);  // prefix is not a parent
  EXPECT_EQ(ResolveExisting(root_, "escape", &out), EDVSACCES);           // symlink out
  EXPECT_EQ(ResolveExisting(root_, "updir/secret.txt", &out), EDVSACCES);
  EXPECT_EQ(out, "untouched");
}

TEST_F(SafePathTest, BadNamesAreRefusedWithTheirReason) {
  std::string out;
  EXPECT_EQ(ResolveExisting(root_, "", &out), EDVSINVAL);
  EXPECT_EQ(ResolveExisting(root_, std::string("a.txt\0x", 7), &out), EDVSINVAL);
  EXPECT_EQ(ResolveExisting(root_, "missing", &out), EDVSNOENT);
  EXPECT_EQ(ResolveExisting(root_, "sub", &out), EDVSISDIR);
  EXPECT_EQ(ResolveExisting(root_, ".", &out), EDVSISDIR);
  EXPECT_EQ(ResolveExisting(root_, std::string(5000, 'a'), &out), EDVSNAMETOOLONG);
}

TEST_F(SafePathTest, CreateNeedsAnExistingDirectoryInsideTheRoot) {
  std::string out;
  EXPECT_EQ(ResolveForCreate(root_, "new.bin", &out), 0);
  EXPECT_EQ(out, root_ + "/new.bin");
  EXPECT_EQ(ResolveForCreate(root_, "sub/new.bin", &out), 0);
  EXPECT_EQ(out, root_ + "/sub/new.bin");
  EXPECT_EQ(ResolveForCreate(root_, "a.txt", &out), 0);  // overwrite a regular file
  EXPECT_EQ(ResolveForCreate(root_, "nodir/new.bin", &out), EDVSNOENT);
  EXPECT_EQ(ResolveForCreate(root_, "../new.bin", &out), EDVSACCES);
  EXPECT_EQ(ResolveForCreate(root_, "updir/new.bin", &out), EDVSACCES);
  EXPECT_EQ(ResolveForCreate(root_, "escape", &out), EDVSACCES);  // never write through a symlink
  EXPECT_EQ(ResolveForCreate(root_, "sub", &out), EDVSISDIR);
  EXPECT_EQ(ResolveForCreate(root_, "sub/", &out), EDVSISDIR);
}

}  // namespace
}  // namespace vdvk::tools
