#include "rd.h"
int main(void) { return 77; }
