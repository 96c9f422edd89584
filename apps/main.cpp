#include <iostream>

#include "apps/cli.hpp"

int main(int argc, char** argv) { return relprop::run_cli(argc, argv, std::cout, std::cerr); }
