// marquee: the command-line interface. Parses flags, calls the library, maps errors to exit
// codes (marquee::ExitCodeFor). No logic lives here.
#include <cstdio>

#include "marquee/error.h"

int main(int argc, char** argv) {
  std::fprintf(stderr, "marquee: under construction\n");
  return 0;
}
