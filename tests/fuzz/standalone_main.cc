// The regression driver of the normal (GCC) build: runs a harness's LLVMFuzzerTestOneInput on
// every file of the folders (or files) named on the command line, in sorted order, so every
// seed and every input that ever crashed runs in plain CI without clang or libFuzzer.
// Exit status: 0 when every input ran; 1 when no input was found (an empty corpus is a mistake);
// a crashing input ends the process as it would under libFuzzer (the driver prints its name
// first, so the log says which one).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) inputs.push_back(e.path());
      }
    } else if (std::filesystem::is_regular_file(p)) {
      inputs.push_back(p);
    } else {
      std::fprintf(stderr, "fuzz driver: %s is neither a file nor a folder\n", argv[i]);
      return 1;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "fuzz driver: no inputs found\n");
    return 1;
  }
  for (const auto& p : inputs) {
    std::fprintf(stderr, "running %s\n", p.c_str());
    std::ifstream f(p, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    // A heap copy of exactly the input's size, as libFuzzer passes it (so ASan sees overreads).
    std::vector<uint8_t> buf(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("%zu inputs ran without a crash\n", inputs.size());
  return 0;
}
