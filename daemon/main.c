/* main.c - wheelfarmd: arguments, configuration, run, exit code. (being written) */
int main(void)
{
    return 0;
}
